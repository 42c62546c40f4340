"""IncludeFile: a literal default (uploaded at deploy time by Metaflow)."""
from metaflow import FlowSpec, IncludeFile, project, step


@project(name="shapes")
class IncludeFileFlow(FlowSpec):
    data = IncludeFile("data", default="includefile_data.txt")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    IncludeFileFlow()
