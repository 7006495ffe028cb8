from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from members.services import VaultError, my_number_rotate_keys
from members.vault import HashKeyChanged


class Command(BaseCommand):
    help = (
        "個人番号を MY_NUMBER_KEYS の先頭の鍵で暗号化し直します。終わったら古い鍵を外せます。"
        "（MY_NUMBER_HASH_KEY を変えたときは rehash_my_numbers を使います。）"
    )

    def handle(self, *args, **options):
        try:
            count = my_number_rotate_keys()
        except (VaultError, HashKeyChanged) as error:
            raise CommandError(str(error)) from None
        except IntegrityError:
            raise CommandError(
                "個人番号の保存中に一意制約の違反が起きたため、何も変更せずに中止しました。"
                "同じ個人番号が複数の加入者に登録されていないか確認してください。"
            ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{count:,}件の個人番号を新しい鍵で暗号化し直しました。"
                "MY_NUMBER_KEYS から古い鍵を外せます。"
            )
        )
