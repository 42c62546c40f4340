"""Decorator: @batch(max_swap=..., swappiness=...)."""
from metaflow import FlowSpec, batch, project, step


@project(name="shapes")
class BatchSwapFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @batch(max_swap=2048, swappiness=60)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BatchSwapFlow()
