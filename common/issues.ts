// Validation problems in words a person reads: zod's own messages ("Too big: expected string
// to have <=89478492 characters") are for developers. Passed to every safeParse at a boundary
// as its error map; a schema's own message (e.g. the settings' "must be at most 1 (100%)") wins.
import type { z } from 'zod';

const fmt = (n: number | bigint) => n.toLocaleString('en-US');

const NOUNS: Record<string, string> = {
    string: 'text', number: 'a number', int: 'a whole number', boolean: 'true or false', object: 'an object',
    array: 'a list', record: 'an object', bigint: 'a whole number', null: 'null', literal: 'a fixed value',
};

const UNITS: Record<string, [string, string]> = {
    string: ['long', 'characters'], array: ['many items', 'items'], set: ['many items', 'items'], file: ['large', 'bytes'],
};

const pathOf = (path: readonly PropertyKey[] | undefined) => (path ?? []).map(String).join('.');

/** The issue as a clause led by the field it is about ("prompt is empty"). */
export function plainIssue(issue: z.core.$ZodRawIssue): string | undefined {
    const problem = plainProblem(issue);
    if (problem == null) return undefined;
    const field = pathOf(issue.path);
    return `${field === '' ? 'the value' : field} ${problem}`;
}

/** The issue alone, for a caller that names the field itself ("must be a number"). */
export function plainProblem(issue: z.core.$ZodRawIssue): string | undefined {
    switch (issue.code) {
        case 'invalid_type':
            if (issue.input === undefined) return 'is missing';
            return `must be ${NOUNS[issue.expected] ?? issue.expected}`;
        case 'too_big': {
            const unit = UNITS[issue.origin];
            if (unit != null) return `is too ${unit[0]} (at most ${fmt(issue.maximum)} ${unit[1]})`;
            return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${fmt(issue.maximum)}`;
        }
        case 'too_small': {
            const unit = UNITS[issue.origin];
            if (unit != null) return Number(issue.minimum) <= 1 ? 'is empty' : `is too short (at least ${fmt(issue.minimum)} ${unit[1]})`;
            return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${fmt(issue.minimum)}`;
        }
        case 'invalid_format':
            return 'has characters or a form that is not allowed';
        case 'not_multiple_of':
            return `must be a multiple of ${String(issue.divisor)}`;
        case 'unrecognized_keys':
            return `has unknown ${issue.keys.length === 1 ? 'field' : 'fields'} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
        case 'invalid_value':
            return `must be ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}`;
        case 'invalid_union':
        case 'invalid_key':
        case 'invalid_element':
            return 'is not valid';
        default:
            return undefined; // custom checks carry their own words
    }
}

/** The first few problems, each led by the path it is about, as one sentence; and the first path, for a form to point at. */
export function describeIssues(error: z.ZodError): { message: string; field: string | undefined } {
    const message = error.issues
        .slice(0, 5)
        .map((issue) => {
            const field = pathOf(issue.path);
            const text = issue.message.replace(/\.$/, '');
            // A schema's own message may not name its field.
            return field === '' || text.startsWith(field) ? text : `${field}: ${text}`;
        })
        .join('; ');
    const first = error.issues[0];
    return { message: `${message}.`, field: first != null && first.path.length > 0 ? pathOf(first.path) : undefined };
}
