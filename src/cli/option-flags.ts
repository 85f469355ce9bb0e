import { type Command, Option } from 'commander';
import type { OptionSpec } from '../api/option-table.ts';
import {
  fraction,
  imageSize,
  nameList,
  numberList,
  positiveInteger,
  positiveNumber,
  positiveNumberOrFraction,
} from './flag-parsers.ts';

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The flag of one option of the tables in api/option-table.ts: `--kebab-case <value>`, parsed and checked. */
export function flagOf(name: string, spec: OptionSpec): Option {
  const option = new Option(`--${kebab(name)}${spec.value ? ` <${spec.value}>` : ''}`, spec.help);
  const { domain } = spec;
  if (domain.kind === 'fraction') option.argParser(fraction);
  else if (domain.kind === 'positive') option.argParser(positiveNumber);
  else if (domain.kind === 'count') option.argParser(positiveInteger);
  else if (domain.kind === 'names') option.argParser(nameList);
  else if (domain.kind === 'numbers') option.argParser(numberList);
  else if (domain.kind === 'scale') option.argParser(positiveNumberOrFraction);
  else if (domain.kind === 'size') option.argParser(imageSize);
  else if (domain.kind === 'choice') option.choices(domain.choices);
  if (spec.default !== undefined) option.default(spec.default);
  if (spec.group) option.helpGroup(spec.group);
  return option;
}

/** Adds every option of a table to a command, in the table's order. */
export function addFlags(command: Command, table: Record<string, OptionSpec>): Command {
  for (const [name, spec] of Object.entries(table)) command.addOption(flagOf(name, spec));
  return command;
}
