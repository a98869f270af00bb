/**
 * What tests need of the catalog and production code does not: `@orders/events/testing`.
 * Messages as the Python reference's producers send them.
 */
export { type PythonOrderPlaced, pythonReferenceOrderPlaced } from './python-reference';
