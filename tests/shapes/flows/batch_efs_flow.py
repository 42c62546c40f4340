"""Decorator: @batch(efs_volumes=...)."""
from metaflow import FlowSpec, batch, project, step


@project(name="shapes")
class BatchEfsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @batch(efs_volumes=["fs-12345678:/mnt/efs"])
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BatchEfsFlow()
