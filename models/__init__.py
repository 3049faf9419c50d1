"""Plain pydantic models shared by workflows, activities, the API and the CLI.

Nothing in this package does I/O: workflow code imports it through
``workflow.unsafe.imports_passed_through()``.
"""
