"""Every public function, class and method of the package says what it does, but for the
methods a framework calls (Theano ops, Lasagne layers, Flask and werkzeug hooks) and
functions defined inside functions."""
import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zfnet")
FRAMEWORK = {"perform", "make_node", "infer_shape", "grad", "L_op", "connection_pattern", "c_code",
             "c_headers", "c_code_cache_version", "c_support_code", "c_libraries", "c_compile_args",
             "c_lib_dirs", "c_header_dirs", "get_output_for", "get_output_shape_for", "dumps",
             "version_string", "send_error", "find_class", "stream", "forward"}


def _missing():
    out = []
    for root, _, files in os.walk(ROOT):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            tree = ast.parse(open(path).read())
            documented = {n.name: {m.name for m in n.body if isinstance(m, ast.FunctionDef) and ast.get_docstring(m)}
                          for n in tree.body if isinstance(n, ast.ClassDef)}
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                    if not ast.get_docstring(node) and not (isinstance(node, ast.ClassDef) and node.bases and
                                                            getattr(node.bases[0], "id", "").endswith("Error")):
                        out.append("%s:%d %s" % (os.path.relpath(path, ROOT), node.lineno, node.name))
                    if isinstance(node, ast.ClassDef):
                        # an override of a method its base (in the same module) documents
                        inherited = set().union(*[documented.get(getattr(b, "id", ""), set()) for b in node.bases])
                        for m in node.body:
                            if isinstance(m, ast.FunctionDef) and not m.name.startswith("_") \
                                    and m.name not in FRAMEWORK and m.name not in inherited \
                                    and not ast.get_docstring(m):
                                out.append("%s:%d %s.%s" % (os.path.relpath(path, ROOT), m.lineno, node.name, m.name))
    return out


def test_public_functions_classes_and_methods_have_docstrings():
    assert _missing() == []
