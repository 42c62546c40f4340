"""@parallel with @catch: Metaflow's Kubernetes decorator refuses it."""
from metaflow import FlowSpec, catch, parallel, project, step


@project(name="shapes")
class ParallelCatchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=2)

    @catch(var="failure")
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
    ParallelCatchFlow()
