import { reportStartupError, serve } from './serve.js';

// `npm start` and the container's command.
serve().catch(reportStartupError);
