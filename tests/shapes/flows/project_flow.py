"""Decorator: @project."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class ProjectShapeFlow(FlowSpec):
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
    ProjectShapeFlow()
