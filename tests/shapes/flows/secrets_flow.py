"""Decorator: @secrets."""
from metaflow import FlowSpec, project, secrets, step


@project(name="shapes")
class SecretsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @secrets(sources=["my-secret"])
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SecretsFlow()
