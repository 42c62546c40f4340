"""Decorator: @kubernetes(use_tmpfs=..., tmpfs_size=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesTmpfsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(use_tmpfs=True, tmpfs_size=1024)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesTmpfsFlow()
