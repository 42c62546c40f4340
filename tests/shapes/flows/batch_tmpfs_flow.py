"""Decorator: @batch(use_tmpfs=...)."""
from metaflow import FlowSpec, batch, project, step


@project(name="shapes")
class BatchTmpfsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @batch(use_tmpfs=True, tmpfs_size=1024)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BatchTmpfsFlow()
