"""Decorator: @batch(host_volumes=...)."""
from metaflow import FlowSpec, batch, project, step


@project(name="shapes")
class BatchHostVolumesFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @batch(host_volumes=["/scratch"])
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BatchHostVolumesFlow()
