"""Decorator: @catch."""
from metaflow import FlowSpec, catch, project, step


@project(name="shapes")
class CatchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @catch(var="failure")
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CatchFlow()
