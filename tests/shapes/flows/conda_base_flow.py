"""Decorator: @conda_base."""
from metaflow import FlowSpec, conda_base, project, step


@conda_base(python="3.11")
@project(name="shapes")
class CondaBaseFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CondaBaseFlow()
