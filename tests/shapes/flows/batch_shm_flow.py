"""Decorator: @batch(shared_memory=...)."""
from metaflow import FlowSpec, batch, project, step


@project(name="shapes")
class BatchShmFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @batch(shared_memory=512)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BatchShmFlow()
