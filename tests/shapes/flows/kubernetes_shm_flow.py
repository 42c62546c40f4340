"""Decorator: @kubernetes(shared_memory=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesShmFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(shared_memory=512)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesShmFlow()
