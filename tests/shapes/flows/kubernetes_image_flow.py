"""Decorator: @kubernetes(image=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesImageFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(image="python:3.11")
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesImageFlow()
