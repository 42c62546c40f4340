"""Build two feature sets side by side (a static split) and join them."""
from metaflow import FlowSpec, project, resources, retry, step


@project(name='example_project')
class FeaturesFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.clicks, self.purchases)

    @retry(times=1)
    @step
    def clicks(self):
        self.rows = 1000
        self.next(self.join)

    @resources(memory=8192)
    @step
    def purchases(self):
        self.rows = 250
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total_rows = sum(i.rows for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == '__main__':
    FeaturesFlow()
