/** Review reports: Markdown for people, versioned JSON for programs, SARIF 2.1.0 for code-scanning tools. */
export { escapeMarkdown, renderMarkdownReport } from './report-md.js';
export type { MarkdownReportOptions } from './report-md.js';
export { REPORT_SCHEMA_VERSION, ReportFindingSchema, ReviewReportSchema, reviewReportJsonSchema, toJsonReport } from './report-json.js';
export type { JsonReportOptions, ReviewReportJson } from './report-json.js';
export { SARIF_SCHEMA_URI, sarifLevel, toSarif } from './report-sarif.js';
export type { RuleDescription, SarifLevel, SarifLog, SarifOptions, SarifResult, SarifRule } from './report-sarif.js';
