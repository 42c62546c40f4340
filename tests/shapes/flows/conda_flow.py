"""Decorator: @conda."""
from metaflow import FlowSpec, conda, project, step


@project(name="shapes")
class CondaFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @conda(packages={"pandas": "2.2.2"})
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CondaFlow()
