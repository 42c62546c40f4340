"""Decorator: @kubernetes(tmpfs_path=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesTmpfsPathFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(use_tmpfs=True, tmpfs_path="/scratch")
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesTmpfsPathFlow()
