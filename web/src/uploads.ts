/** The embedded uploads bucket's `incoming/` objects and what became of them, refreshed. */
import { callApi } from './api.ts';
import { byId, el, showError } from './dom.ts';

interface Upload {
  readonly key: string;
  readonly size: number;
  readonly state: 'pending' | 'done' | 'failed';
  readonly resultKey?: string;
  readonly error?: string;
}

/** Lists the uploads now and every 5 s. */
export function setUpUploads(): void {
  const table = byId<HTMLTableElement>('uploads-table');
  const error = byId('uploads-error');
  const refresh = async () => {
    const reply = await callApi<{ uploads: Upload[] }>('/v1/uploads');
    if (!reply.ok) {
      table.hidden = true;
      showError(error, reply.error);
      return;
    }
    showError(error, undefined);
    const rows = reply.body.uploads.map((u) =>
      el(
        'tr',
        { class: u.state },
        el('td', {}, el('code', {}, u.key)),
        el('td', {}, `${(u.size / 1024).toFixed(1)} KiB`),
        el('td', {}, u.state),
        el(
          'td',
          {},
          u.state === 'failed'
            ? (u.error ?? '')
            : u.state === 'done'
              ? el('code', {}, u.resultKey ?? '')
              : '…',
        ),
      ),
    );
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: '4' }, 'No uploads yet.')));
    table.tBodies[0]?.replaceChildren(...rows);
    table.hidden = false;
  };
  void refresh();
  setInterval(() => void refresh(), 5000);
}
