#!/usr/bin/env python3
"""Validate Argo Workflows manifests the way the Argo server would before running them.

1. Against Argo's API: hera's models (PyPI `hera`, generated from Argo's JSON schema) check
   every field's type and the required ones.
2. No unknown field: what the models read, written back, must give the input again — a
   misspelt key (`comand:`) is dropped by the models, so it shows up as a difference.
3. References, as `argo lint` checks them: the entrypoint and every DAG task's template
   exist; dependencies name tasks of the same DAG; `{{inputs.parameters.X}}` is declared by
   its template, `{{workflow.parameters.X}}` by the spec, `{{tasks.X.…}}` names a task.

Usage: validate-argo.py MANIFEST.yaml...   (run with the hera virtualenv's python)
Exit 1 and one line per problem when anything is wrong."""
import re
import sys

import yaml
from hera.workflows.models import CronWorkflow, Workflow, WorkflowTemplate

MODELS = {"Workflow": Workflow, "WorkflowTemplate": WorkflowTemplate, "CronWorkflow": CronWorkflow}
PARAM = re.compile(r"\{\{\s*(inputs\.parameters|workflow\.parameters|tasks)\.([A-Za-z0-9_-]+)")


def unknown_fields(given, read, where):
    """Paths present in the input but not in what the model read back."""
    if isinstance(given, dict):
        if not isinstance(read, dict):
            return [where]
        out = []
        for k, v in given.items():
            if k not in read:
                out.append(f"{where}.{k}")
            else:
                out += unknown_fields(v, read[k], f"{where}.{k}")
        return out
    if isinstance(given, list) and isinstance(read, list):
        return [p for i, (g, r) in enumerate(zip(given, read)) for p in unknown_fields(g, r, f"{where}[{i}]")]
    return []


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def references(spec):
    problems = []
    templates = {t["name"]: t for t in spec.get("templates", [])}
    wf_params = {p["name"] for p in (spec.get("arguments") or {}).get("parameters", [])}
    if spec.get("entrypoint") not in templates:
        problems.append(f"entrypoint {spec.get('entrypoint')!r} is not a template")
    for name, t in templates.items():
        declared = {p["name"] for p in (t.get("inputs") or {}).get("parameters", [])}
        tasks = {task["name"]: task for task in (t.get("dag") or {}).get("tasks", [])}
        for task in tasks.values():
            if task.get("template") not in templates:
                problems.append(f"template {name}: task {task['name']} runs unknown template {task.get('template')!r}")
            for dep in task.get("dependencies") or []:
                if dep not in tasks:
                    problems.append(f"template {name}: task {task['name']} depends on unknown task {dep!r}")
            for dep in re.findall(r"[A-Za-z0-9_-]+(?=\.(?:Succeeded|Failed|Errored|Skipped|Omitted|Daemoned|AnySucceeded|AllFailed))|^[A-Za-z0-9_-]+$",
                                  task.get("depends") or ""):
                if dep not in tasks:
                    problems.append(f"template {name}: task {task['name']} depends on unknown task {dep!r}")
        for s in strings({k: v for k, v in t.items() if k != "dag"}):
            for kind, ref in PARAM.findall(s):
                if kind == "inputs.parameters" and ref not in declared:
                    problems.append(f"template {name}: {{{{inputs.parameters.{ref}}}}} is not declared")
        for s in strings(t):
            for kind, ref in PARAM.findall(s):
                if kind == "workflow.parameters" and ref not in wf_params:
                    problems.append(f"template {name}: {{{{workflow.parameters.{ref}}}}} is not declared")
                if kind == "tasks" and ref not in tasks:
                    problems.append(f"template {name}: {{{{tasks.{ref}}}}} names no task of its DAG")
    return problems


def main(paths):
    problems = []
    for path in paths:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for i, doc in enumerate(docs):
            where = f"{path}#{i}"
            model = MODELS.get(doc.get("kind"))
            if model is None:
                problems.append(f"{where}: kind {doc.get('kind')!r} is not an Argo Workflows resource")
                continue
            try:
                read = model.model_validate(doc).model_dump(by_alias=True, exclude_unset=True, mode="json")
            except Exception as e:  # pydantic.ValidationError: field paths and reasons
                problems += [f"{where}: {line}" for line in str(e).splitlines()]
                continue
            problems += [f"{where}: unknown field {p}" for p in unknown_fields(doc, read, doc["kind"])]
            spec = doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]
            problems += [f"{where}: {p}" for p in references(spec)]
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
