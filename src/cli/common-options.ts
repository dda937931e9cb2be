import { Option } from 'commander';
import { DEFAULTS } from '../config/defaults.js';
import { parseLangOption } from '../config/options.js';

/** Options several command groups share, declared once so their help reads the same everywhere. */

export const langOption = () => new Option('--lang <lang>', 'language of reply texts: pt or en (default: $ECOM_LANG, else pt)').argParser(parseLangOption);

export const hostOption = () => new Option('--host <address>', 'address to bind or connect to').default(DEFAULTS.host);
