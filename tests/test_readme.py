"""README.md and README_CN.md against the code: the commands they show name real scripts and real options,
every setting is documented, and CI runs the test command they show."""
import os
import re
import shlex

import pytest

from conftest import REPO, run_script
from src.config import COMMANDS, SETTING

READMES = ('README.md', 'README_CN.md')
# Entry points with their own small parsers (not the shared settings); their options come from --help.
OWN_PARSERS = ('postprocess.py', 'create_imagenet2012_label.py', 'convert_checkpoint.py', 'src.demo_data',
               'benchmarks.transfer')


def readme(name):
    with open(os.path.join(REPO, name), encoding='utf-8') as handle:
        return handle.read()


def shell_commands(text):
    """Commands of the ```bash blocks, continuation lines joined, comments and placeholders dropped."""
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, flags=re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split(' #', 1)[0].strip()
            if line and not line.startswith('#'):
                commands.append(line)
    return commands


def program_and_options(command):
    words = shlex.split(command)
    while words and '=' in words[0] and not words[0].startswith('-'):  # VAR=value prefixes
        words.pop(0)
    if words[:2] == ['python', '-m']:
        program = words[2]
    elif words[0] in ('python', 'bash'):
        program = words[1]
    else:
        program = words[0]
    options = {word.split('=', 1)[0] for word in words if word.startswith('--')}
    return program, options


@pytest.fixture(scope='module')
def help_options():
    found = {}
    for program in OWN_PARSERS:
        args = (program, '--help') if program.endswith('.py') else ('-m', program, '--help')
        result = run_script(*args, timeout=120)
        assert result.returncode == 0, result.stderr
        found[program] = set(re.findall(r'(--[a-z_]+)', result.stdout))
    return found


@pytest.mark.parametrize('name', READMES)
def test_every_command_names_a_real_program_and_real_options(name, help_options):
    commands = shell_commands(readme(name))
    assert len(commands) > 20
    for command in commands:
        program, options = program_and_options(command)
        if program.endswith('.sh'):
            assert os.path.isfile(os.path.join(REPO, program)), command
            script = open(os.path.join(REPO, program), encoding='utf-8').read()
            own = {option for option in options if option in script}
            passed_on = options - own
            assert {option[2:] for option in passed_on} <= set(SETTING) | {'config'}, command
        elif program in OWN_PARSERS:
            assert options <= help_options[program], command
        elif program.endswith('.py') or program.startswith('src.'):
            path = program if program.endswith('.py') else program.replace('.', '/') + '.py'
            assert os.path.isfile(os.path.join(REPO, path)), command
            command_name = os.path.splitext(os.path.basename(path))[0]
            assert {option[2:] for option in options} <= set(COMMANDS[command_name]) | {'config'}, command
        else:
            pytest.fail(f'{name}: unexpected program in {command!r}')


@pytest.mark.parametrize('name', READMES)
def test_every_setting_is_in_the_parameter_table(name):
    table = {row.split('|')[1].strip().strip('`') for row in readme(name).splitlines() if row.startswith('| `--')}
    assert table == {f'--{key}' for key in SETTING} | {'--config'}


@pytest.mark.parametrize('name', READMES)
def test_ci_runs_the_test_command_the_readme_shows(name):
    with open(os.path.join(REPO, '.ci', 'run'), encoding='utf-8') as handle:
        ci_commands = [line.strip() for line in handle if line.strip() and not line.startswith(('#', 'set ', 'cd '))]
    assert ci_commands == ['bash scripts/run_tests.sh']
    assert 'bash scripts/run_tests.sh' in shell_commands(readme(name))
    assert 'bash scripts/quick_start.sh' in shell_commands(readme(name))


@pytest.mark.parametrize('name', READMES)
def test_no_placeholder_is_left(name):
    assert '⟨TBD' not in readme(name)


def test_both_readmes_show_the_same_commands():
    assert shell_commands(readme('README.md')) == shell_commands(readme('README_CN.md'))
