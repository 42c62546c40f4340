"""Refresh the raw tables every day at midnight UTC."""
from metaflow import FlowSpec, project, retry, schedule, step


@schedule(daily=True)
@project(name='example_project')
class RefreshFlow(FlowSpec):
    @retry(times=3)
    @step
    def start(self):
        self.tables = ['events', 'users']
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == '__main__':
    RefreshFlow()
