"""Decorator: @pypi."""
from metaflow import FlowSpec, project, pypi, step


@project(name="shapes")
class PypiFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @pypi(packages={"pandas": "2.2.2"})
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PypiFlow()
