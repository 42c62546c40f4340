"""Decorator: @resources(gpu=...)."""
from metaflow import FlowSpec, project, resources, step


@project(name="shapes")
class ResourcesGpuFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @resources(gpu=1)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ResourcesGpuFlow()
