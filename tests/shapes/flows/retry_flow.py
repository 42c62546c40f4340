"""Decorator: @retry."""
from metaflow import FlowSpec, project, retry, step


@project(name="shapes")
class RetryFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @retry(times=2, minutes_between_retries=1)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RetryFlow()
