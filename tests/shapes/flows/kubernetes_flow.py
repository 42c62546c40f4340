"""Decorator: @kubernetes with cpu and memory."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(cpu=2, memory=8192)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesFlow()
