/** The benchmark's output: Markdown tables, one per section, plus machine info. */
import { cpus, totalmem } from "node:os";
import type { Measurement } from "./peers/index.js";

export interface Row {
  name: string;
  value: number;
  unit: string;
  /** "0.85× nextv scan" and the like; empty when the row has no reference. */
  ratio: string;
  notes: string;
}

export interface Section {
  title: string;
  /** One paragraph above the table: what was measured and how. */
  intro: string;
  rows: Row[];
}

export function row(name: string, value: number, unit: string, ratio = "", notes = ""): Row {
  return { name, value, unit, ratio, notes };
}

/** A reference measurement as a row (it is its own reference). */
export function referenceRow(m: Measurement, notes = m.detail ?? ""): Row {
  return row(m.name, m.value, m.unit, "reference", notes);
}

/** A row for a step that threw: value NaN, the message in notes. */
export function errorRow(name: string, error: unknown): Row {
  const message = error instanceof Error ? error.message : String(error);
  return row(name, Number.NaN, "", "", `error: ${message.split("\n")[0]!.slice(0, 300)}`);
}

/** "0.85× label" for value/reference; "—" when either side is missing. */
export function ratio(value: number, reference: number | Measurement | undefined, label: string): string {
  const ref = typeof reference === "number" ? reference : reference?.value;
  if (ref === undefined || !Number.isFinite(ref) || ref <= 0 || !Number.isFinite(value)) return `— (${label} n/a)`;
  const r = value / ref;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toFixed(3)}× ${label}`;
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "—";
  if (unit === "ms") return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)} k`;
  if (value >= 100) return value.toFixed(0);
  return value.toFixed(2);
}

const escape = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");

export function renderSection(section: Section): string {
  const lines = [`## ${section.title}`, "", section.intro, "", "| measurement | value | unit | ratio vs reference | notes |", "|---|---:|---|---|---|"];
  for (const r of section.rows) {
    lines.push(`| ${escape(r.name)} | ${formatValue(r.value, r.unit)} | ${r.unit} | ${escape(r.ratio)} | ${escape(r.notes)} |`);
  }
  return lines.join("\n");
}

export function machineInfo(): string {
  const cpu = cpus();
  return [
    `- date: ${new Date().toISOString()}`,
    `- cpu: ${cpu[0]?.model ?? "unknown"}, ${cpu.length} cores`,
    `- memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- node: ${process.version} (${process.platform} ${process.arch})`,
  ].join("\n");
}
