"""@parallel inside a foreach: each split runs its own gang (root-input-path to the outer join)."""
from metaflow import FlowSpec, parallel, project, step


@project(name="shapes")
class ParallelNestedFlow(FlowSpec):
    @step
    def start(self):
        self.sizes = [2, 4]
        self.next(self.setup, foreach="sizes")

    @step
    def setup(self):
        self.next(self.train, num_parallel=self.input)

    @parallel
    @step
    def train(self):
        self.next(self.collect)

    @step
    def collect(self, inputs):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParallelNestedFlow()
