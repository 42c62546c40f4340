"""Shape and decorator: @parallel (num_parallel gang of tasks)."""
from metaflow import FlowSpec, parallel, project, step


@project(name="shapes")
class ParallelFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=2)

    @parallel
    @step
    def train(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParallelFlow()
