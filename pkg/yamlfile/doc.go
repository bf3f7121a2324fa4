// Package yamlfile is how specguard reads the YAML files it is given (a
// policy, a Pod manifest) strictly: the document's node tree as
// go.yaml.in/yaml/v3 reads it, or the syntax error with its line; the
// line of every field path; and the shape of every error about such a
// file: each problem with its field path and line, all of them at once,
// printed file:line: path: reason.
package yamlfile
