"""Every graph shape the Argo backend renders, for the oracle test: a static split, a foreach
with a nested foreach, a static split inside a foreach, a JSON parameter and @environment."""
from metaflow import FlowSpec, JSONType, Parameter, catch, environment, project, resources, step


@project(name='example_project')
class ShapesFlow(FlowSpec):
    config = Parameter('config', type=JSONType, default='{"a": 1}')
    label = Parameter('label', default='x', help='a label')

    @step
    def start(self):
        self.next(self.left, self.right)

    @environment(vars={'MODE': 'left'})
    @step
    def left(self):
        self.next(self.merge)

    @catch(var='failed')
    @step
    def right(self):
        self.next(self.merge)

    @step
    def merge(self, inputs):
        self.next(self.prepare)

    @step
    def prepare(self):
        self.outer = [1, 2]
        self.next(self.fan, foreach='outer')

    @step
    def fan(self):
        self.next(self.fan_prepare)

    @step
    def fan_prepare(self):
        self.inner = [3, 4]
        self.next(self.inner_fan, foreach='inner')

    @resources(gpu=1)
    @step
    def inner_fan(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.split_in_foreach)

    @step
    def split_in_foreach(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.ab_join)

    @step
    def b(self):
        self.next(self.ab_join)

    @step
    def ab_join(self, inputs):
        self.next(self.fan_join)

    @step
    def fan_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == '__main__':
    ShapesFlow()
