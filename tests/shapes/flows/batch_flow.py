"""Decorator: @batch with cpu and memory."""
from metaflow import FlowSpec, batch, project, step


@project(name="shapes")
class BatchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @batch(cpu=2, memory=4096)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BatchFlow()
