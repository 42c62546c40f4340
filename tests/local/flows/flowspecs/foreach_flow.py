"""A foreach over a list, its join in foreach order."""
from metaflow import FlowSpec, project, step


@project(name='shapes')
class ForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = [3, 5]
        self.next(self.square, foreach='items')

    @step
    def square(self):
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.values)


if __name__ == '__main__':
    ForeachFlow()
