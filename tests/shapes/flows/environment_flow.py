"""Decorator: @environment."""
from metaflow import FlowSpec, environment, project, step


@project(name="shapes")
class EnvironmentFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @environment(vars={"MY_VAR": "1"})
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EnvironmentFlow()
