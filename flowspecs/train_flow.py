"""Train one model per region in parallel (foreach) and keep the best one."""
from metaflow import FlowSpec, Parameter, current, project, resources, retry, step, timeout

from common import REGIONS, score


@project(name='example_project')
class TrainFlow(FlowSpec):
    learning_rate = Parameter('learning_rate', default=0.01, type=float,
                              help='step size of the optimiser')
    epochs = Parameter('epochs', default=10, type=int)

    @step
    def start(self):
        self.regions = REGIONS
        self.next(self.train, foreach='regions')

    @retry(times=2, minutes_between_retries=1)
    @resources(cpu=4, memory=16384)
    @timeout(hours=2)
    @step
    def train(self):
        self.region = self.input
        self.quality = score([self.learning_rate * e for e in range(self.epochs)])
        self.next(self.pick_best)

    @retry
    @step
    def pick_best(self, inputs):
        best = max(inputs, key=lambda i: i.quality)
        self.best_region = best.region
        self.next(self.end)

    @step
    def end(self):
        print('best region in', current.branch_name, 'is', self.best_region)


if __name__ == '__main__':
    TrainFlow()
