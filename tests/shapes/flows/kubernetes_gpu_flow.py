"""Decorator: @kubernetes(gpu=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesGpuFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(gpu=1)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesGpuFlow()
