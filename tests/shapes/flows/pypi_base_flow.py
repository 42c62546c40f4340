"""Decorator: @pypi_base."""
from metaflow import FlowSpec, project, pypi_base, step


@pypi_base(python="3.11")
@project(name="shapes")
class PypiBaseFlow(FlowSpec):
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
    PypiBaseFlow()
