// htm turns tagged templates into preact elements: markup without a build step, and every
// interpolated value is text (escaped), never parsed as HTML.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
