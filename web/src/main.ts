/** The page to try every task: wires each section to the API of the server that served it. */
import { setUpImage } from './image.ts';
import { setUpLatency } from './latency.ts';
import { setUpSpeech } from './speech.ts';
import { setUpText } from './text.ts';
import { setUpUploads } from './uploads.ts';

const refreshLatency = setUpLatency();
setUpImage(refreshLatency);
setUpText(refreshLatency);
setUpSpeech(refreshLatency);
setUpUploads();
document.body.dataset.ready = 'true';
