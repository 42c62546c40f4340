"""Decorator: @batch with a bare queue name."""
from metaflow import FlowSpec, batch, project, step


@project(name="shapes")
class BatchQueueFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @batch(queue="gpu-queue")
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BatchQueueFlow()
