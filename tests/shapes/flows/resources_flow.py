"""Decorator: @resources."""
from metaflow import FlowSpec, project, resources, step


@project(name="shapes")
class ResourcesFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @resources(cpu=4, memory=16000)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ResourcesFlow()
