"""Linear + split/join, Parameters (an IncludeFile with a default among them), @environment, @secrets, and the failure handling decorators:
@retry on a step that fails once, @catch on a step that raises, @timeout on a step that finishes
in time."""
import os

from metaflow import (FlowSpec, IncludeFile, Parameter, catch, current, environment,
                      project, retry, secrets, step, timeout)


@project(name='shapes')
class BranchFlow(FlowSpec):
    count = Parameter('count', default=2, type=int)
    greeting = Parameter('greeting', default='hello')
    notes = IncludeFile('notes', default='notes.txt')

    @environment(vars={'SHAPES_COLOUR': 'teal'})
    @secrets(sources=['shapes/api'])
    @step
    def start(self):
        self.colour = os.environ['SHAPES_COLOUR']
        self.api_user = os.environ['API_USER']
        self.scaled = self.count * 3
        self.first_note = self.notes.splitlines()[0]
        self.next(self.flaky, self.fragile)

    @retry(times=1, minutes_between_retries=0)
    @step
    def flaky(self):
        if current.retry_count == 0:
            raise RuntimeError('flaky: the first attempt fails on purpose')
        self.attempt = current.retry_count
        self.next(self.join)

    @catch(var='failure')
    @step
    def fragile(self):
        self.before = 'ran'
        raise ValueError('fragile: always fails, @catch keeps the run going')
        self.next(self.join)  # noqa - unreachable, Metaflow reads the graph from the source

    @timeout(minutes=15)
    @step
    def join(self, inputs):
        self.attempt = inputs.flaky.attempt
        self.caught = inputs.fragile.failure.type  # 'builtins.ValueError'
        self.merge_artifacts(inputs, include=['colour', 'api_user', 'scaled', 'first_note'])
        self.next(self.end)

    @step
    def end(self):
        self.summary = f'{self.greeting} {self.scaled}'


if __name__ == '__main__':
    BranchFlow()
