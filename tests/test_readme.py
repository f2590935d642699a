"""The documentation against the code and against itself: README.md, README_CN.md and docs/*.md. The commands they
show name real scripts and real options, every setting is in the parameter table, CI runs the test command the
README shows, each English page and its Chinese twin show the same commands, and every relative link leads to a file
(and heading) that exists."""
import glob
import os
import re
import shlex

import pytest

from conftest import REPO, run_script
from src.config import COMMANDS, SETTING

READMES = ('README.md', 'README_CN.md')
DOCS = tuple(sorted(os.path.relpath(path, REPO) for path in glob.glob(os.path.join(REPO, 'docs', '*.md'))))
PAGES = READMES + DOCS
ENGLISH_PAGES = tuple(name for name in PAGES if not name.endswith('_CN.md'))
PARAMETER_TABLES = ('docs/parameters.md', 'docs/parameters_CN.md')
# Entry points with their own small parsers (not the shared settings); their options come from --help.
OWN_PARSERS = ('postprocess.py', 'create_imagenet2012_label.py', 'convert_checkpoint.py', 'src.data.demo_data',
               'benchmarks.transfer', 'benchmarks.family', 'benchmarks.family_exports', 'benchmarks.demo_ablation')


def page(name):
    with open(os.path.join(REPO, name), encoding='utf-8') as handle:
        return handle.read()


def chinese_twin(name):
    """README.md -> README_CN.md, docs/x.md -> docs/x_CN.md."""
    return name[:-len('.md')] + '_CN.md'


def english_twin(name):
    return name[:-len('_CN.md')] + '.md'


def shell_commands(text):
    """Commands of the ```bash blocks, continuation lines joined, comments and placeholders dropped."""
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, flags=re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split(' #', 1)[0].strip()
            if line and not line.startswith('#'):
                commands.append(line)
    return commands


def without_code_blocks(text):
    return re.sub(r'```.*?```', '', text, flags=re.S)


def relative_links(text):
    """Targets of the [text](target) links and ![pictures](target) outside code blocks, web addresses left out."""
    targets = re.findall(r'\]\(([^)\s]+)\)', without_code_blocks(text))
    return [target for target in targets if not re.match(r'[a-z]+:', target)]


def heading_anchors(text):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r'^#+ (.+)$', without_code_blocks(text), flags=re.M)
    return {re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-') for heading in headings}


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


def test_the_pages_are_found():
    assert 'docs/parameters.md' in DOCS and len(DOCS) >= 2


@pytest.mark.parametrize('name', PAGES)
def test_every_command_names_a_real_program_and_real_options(name, help_options):
    for command in shell_commands(page(name)):
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
def test_the_readme_shows_the_main_commands(name):
    programs = {program_and_options(command)[0] for command in shell_commands(page(name))}
    assert {'train.py', 'eval.py', 'export.py', 'predict.py', 'scripts/run_infer_cpu.sh'} <= programs


@pytest.mark.parametrize('name', PARAMETER_TABLES)
def test_every_setting_is_in_the_parameter_table(name):
    table = {row.split('|')[1].strip().strip('`') for row in page(name).splitlines() if row.startswith('| `--')}
    assert table == {f'--{key}' for key in SETTING} | {'--config'}


@pytest.mark.parametrize('name', READMES)
def test_the_readme_links_the_parameter_table(name):
    table = 'docs/parameters.md' if name == 'README.md' else 'docs/parameters_CN.md'
    assert table in relative_links(page(name))


@pytest.mark.parametrize('name', READMES)
def test_ci_runs_the_test_command_the_readme_shows(name):
    with open(os.path.join(REPO, '.ci', 'run'), encoding='utf-8') as handle:
        ci_commands = [line.strip() for line in handle if line.strip() and not line.startswith(('#', 'set ', 'cd '))]
    assert ci_commands == ['bash scripts/run_tests.sh']
    assert 'bash scripts/run_tests.sh' in shell_commands(page(name))
    assert 'bash scripts/run_tests.sh -m "not slow"' in shell_commands(page(name))
    assert 'bash scripts/quick_start.sh' in shell_commands(page(name))


@pytest.mark.parametrize('name', PAGES)
def test_no_placeholder_is_left(name):
    assert '⟨TBD' not in page(name)


@pytest.mark.parametrize('name', PAGES)
def test_every_page_has_its_twin_in_the_other_language(name):
    twin = english_twin(name) if name.endswith('_CN.md') else chinese_twin(name)
    assert twin in PAGES, f'{name} has no {twin}'


@pytest.mark.parametrize('name', ENGLISH_PAGES)
def test_each_page_and_its_chinese_twin_show_the_same_commands(name):
    assert shell_commands(page(name)) == shell_commands(page(chinese_twin(name)))


@pytest.mark.parametrize('name', PAGES)
def test_every_relative_link_leads_to_a_file_that_exists(name):
    folder = os.path.dirname(os.path.join(REPO, name))
    for link in relative_links(page(name)):
        path, _, anchor = link.partition('#')
        target = os.path.normpath(os.path.join(folder, path)) if path else os.path.join(REPO, name)
        assert os.path.exists(target), f'{name}: {link} leads nowhere'
        if anchor and target.endswith('.md'):
            with open(target, encoding='utf-8') as handle:
                assert anchor in heading_anchors(handle.read()), f'{name}: {link} names no heading'
