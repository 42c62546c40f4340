"""A foreach inside a foreach."""
from metaflow import FlowSpec, project, step


@project(name='shapes')
class NestedFlow(FlowSpec):
    @step
    def start(self):
        self.outer = [1, 2]
        self.next(self.fan, foreach='outer')

    @step
    def fan(self):
        self.base = self.input
        self.inner = list(range(self.input))
        self.next(self.leaf, foreach='inner')

    @step
    def leaf(self):
        self.value = self.base * 10 + self.input
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.values = sorted(v for i in inputs for v in i.values)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == '__main__':
    NestedFlow()
