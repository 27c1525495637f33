// The conversations panel: where agents land after signing in.
import { t } from '../i18n.js';
import { h, replace } from '../dom.js';

export function conversationsView(main) {
  replace(
    main,
    h('h1', {}, t('conversations.title')),
    h('div', { class: 'card empty', 'data-testid': 'conversations-panel' }, h('p', {}, t('conversations.empty'))),
  );
}
